//! What `goleash demo` says around its watch: that it is a simulation, and what it found.

use std::io::{self, Write};
use std::path::Path;

use crate::doc::report::ReportDoc;
use crate::render::style::Style;

const INTRO: &str = "goleash demo: THIS IS A SIMULATION. A service built into goleash listens on loopback and serves goroutine profiles replayed from a real Go 1.27 capture (fixtures/go/watch/watchsvc), with bursty healthy traffic and one slow leak injected. goleash watches it with trend windows compressed from minutes to seconds.";

/// Says that the demo is a simulation: in colour with a blank line after it, before the
/// watch's text; plain, beside its JSON (`style` `None`).
pub fn write_intro(out: &mut dyn Write, style: Option<&Style>) -> io::Result<()> {
    match style {
        Some(style) => writeln!(out, "{}\n", style.yellow(INTRO)),
        None => writeln!(out, "{INTRO}"),
    }
}

/// The leak the demo found in `doc` (or that it found none), where its report was written,
/// and that it was a simulation.
pub fn write_outcome(
    out: &mut dyn Write,
    doc: &ReportDoc,
    report: &Path,
    style: &Style,
) -> io::Result<()> {
    writeln!(out)?;
    match doc.alerted_leak() {
        Some(g) => {
            let site = g
                .leak_site
                .as_ref()
                .map_or(g.blocking.name().to_string(), |s| {
                    format!("{} ({}:{})", s.function, s.file, s.line)
                });
            writeln!(
                out,
                "{} {}",
                style.red("Verdict: LEAK in"),
                style.cyan(&site)
            )?;
            if let Some(source) = g.leak_site.as_ref().and_then(|s| s.source.as_ref()) {
                writeln!(out, "    │ {}", source.trim())?;
            }
            writeln!(
                out,
                "  {} · {} → {} goroutines · {}",
                g.blocking.name(),
                g.count_first,
                g.count_last,
                g.why
            )?;
            if let Some(hint) = &g.hint {
                writeln!(out, "  {} {hint}", style.bold("fix:"))?;
            }
        }
        None => writeln!(
            out,
            "{}",
            style.red("The demo did not find its leak this time: please report it.")
        )?,
    }
    writeln!(
        out,
        "\nReport: {}   History: {} (try `goleash report --db {} --format text`)",
        report.display(),
        doc.db,
        doc.db
    )?;
    writeln!(
        out,
        "\n{}",
        style.yellow("This was a simulation: no real service was watched, and the trend windows were compressed to seconds (a real watch's trend takes about half an hour to call a leak, or fits its windows to --duration; leaks a Go 1.26+ runtime proves are called at once). Point `goleash watch` at your service's pprof port to watch it for real.")
    )
}
