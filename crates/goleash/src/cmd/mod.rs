//! One module per subcommand.

pub mod check;
pub mod demo;
pub mod diff;
pub mod inspect;
pub mod report;
pub mod scan;
pub mod test;
pub mod watch;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use goleash_core::code::Origin;

use crate::analysis::FileSource;
use crate::cli::{OutputFormat, StreamFormat};
use crate::doc::watch::EventSink;
use crate::render::findings::Finding;
use crate::render::json::JsonLines;
use crate::render::style::{ColorChoice, Style};
use crate::render::text::watch::{Live, Log};
use crate::render::{github, sarif, short};
use crate::repo;

/// Where a watch's events go for the chosen format: JSON lines, a live view on a terminal,
/// a log elsewhere.
/// The history database: the one given with `--db`, or `watch.db` in goleash's directory
/// under the user's state directory (`$XDG_STATE_HOME`, else `~/.local/state`), never the
/// working directory, where it would be committed by accident.
pub fn history_db(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        // The XDG spec: a relative path is invalid and is ignored.
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".local/state"))
        })
        .context(
            "no state directory for the history: neither XDG_STATE_HOME nor HOME is set\n  hint: give one with --db PATH",
        )?;
    Ok(state.join("goleash").join("watch.db"))
}

pub fn event_sink(format: StreamFormat, color: ColorChoice) -> Box<dyn EventSink> {
    let stdout = io::stdout();
    match format {
        StreamFormat::Json => Box::new(JsonLines::new(stdout)),
        StreamFormat::Text if stdout.is_terminal() => {
            Box::new(Live::new(stdout, Style::for_stdout(color)))
        }
        StreamFormat::Text => Box::new(Log::new(stdout, Style::for_stdout(color))),
    }
}

/// Prints a command's document to stdout in `format`: JSON, the text `text` writes, or one
/// of the CI formats of the document's `findings`.
pub fn print(
    format: OutputFormat,
    command: &str,
    doc: &impl serde::Serialize,
    findings: impl FnOnce() -> Vec<Finding>,
    source: &FileSource,
    text: impl Fn(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match format {
        OutputFormat::Json => crate::render::json::write(&mut out, doc)?,
        OutputFormat::Text => text(&mut out)?,
        ci => write_for_ci(&mut out, ci, command, &findings(), source, &text)?,
    }
    out.flush()?;
    Ok(())
}

/// Writes findings in one of the CI formats; `text` writes the command's text report, which
/// the GitHub format prints before its annotations.
pub fn write_for_ci(
    out: &mut dyn Write,
    format: OutputFormat,
    command: &str,
    findings: &[Finding],
    source: &FileSource,
    text: impl Fn(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    // The runtime's and the standard library's files are never the repository's, even when
    // a toolchain is installed inside it.
    let files = findings.iter().flat_map(|f| {
        [&f.site, &f.waits_in, &f.created_by]
            .into_iter()
            .flatten()
            .filter(|p| matches!(p.origin, Origin::User | Origin::Dependency))
            .map(|p| p.file.as_str())
    });
    let locations = repo::locate(files, source.map());
    match format {
        OutputFormat::Sarif => sarif::write(out, findings, &locations)?,
        OutputFormat::Short => short::write(out, findings, &locations)?,
        OutputFormat::Github => {
            text(out)?;
            github::write_annotations(out, findings, &locations)?;
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
                let mut summary = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| {
                        format!("writing the job summary to {}", path.to_string_lossy())
                    })?;
                github::write_summary(&mut summary, command, findings, &locations)?;
            }
        }
        OutputFormat::Text | OutputFormat::Json => {
            unreachable!("text and JSON are written by the command itself")
        }
    }
    Ok(())
}
