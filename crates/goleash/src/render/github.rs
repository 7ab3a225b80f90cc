//! GitHub Actions: workflow commands that become annotations on the pull request
//! (`::error file=…,line=…,title=…::message` for leaks, `::warning` for suspects), and a
//! job summary in Markdown.

use std::io::{self, Write};

use goleash_core::classify::Verdict;

use super::findings::{Finding, Place};
use crate::repo::Locations;

/// The annotation of each finding that fails or is a suspect; accepted ones are left out.
pub fn write_annotations(
    out: &mut dyn Write,
    findings: &[Finding],
    locations: &Locations,
) -> io::Result<()> {
    for f in findings.iter().filter(|f| f.accepted.is_none()) {
        let (command, title) = match f.verdict {
            _ if f.fails => ("error", "goroutine leak"),
            Verdict::Suspect => ("warning", "goroutines that look stuck"),
            _ => continue,
        };
        let mut properties = Vec::new();
        if let Some(place) = f.site.as_ref().or(f.waits_in.as_ref())
            && let Some(file) = locations.relative(&place.file)
        {
            properties.push(format!("file={}", property(file)));
            if place.line > 0 {
                properties.push(format!("line={}", place.line));
            }
        }
        properties.push(format!(
            "title={}",
            property(&format!("{title} in {}", f.function()))
        ));
        let mut message = f.message();
        if let Some(hint) = &f.hint {
            message.push_str("\nFix: ");
            message.push_str(hint);
        }
        writeln!(
            out,
            "::{command} {}::{}",
            properties.join(","),
            data(&message)
        )?;
    }
    Ok(())
}

/// The job summary: what was found, as a table.
pub fn write_summary(
    out: &mut dyn Write,
    command: &str,
    findings: &[Finding],
    locations: &Locations,
) -> io::Result<()> {
    let failing = findings.iter().filter(|f| f.fails).count();
    writeln!(out, "### goleash {command}")?;
    writeln!(out)?;
    if findings.is_empty() {
        writeln!(out, "No goroutine leak found.")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} · {} not failing",
        match failing {
            0 => "Passed".to_string(),
            1 => "**1 leak**".to_string(),
            n => format!("**{n} leaks**"),
        },
        findings.len() - failing
    )?;
    writeln!(out)?;
    writeln!(out, "| verdict | goroutines | where | waits in | fix |")?;
    writeln!(out, "|---|---:|---|---|---|")?;
    for f in findings {
        let verdict = match (&f.accepted, f.fails) {
            (Some(_), _) => format!("{} (accepted)", f.verdict.name()),
            (None, true) => format!("**{}**", f.verdict.name()),
            (None, false) => f.verdict.name().to_string(),
        };
        let subject = f
            .subject
            .as_ref()
            .map(|s| format!("{} · ", cell(s)))
            .unwrap_or_default();
        writeln!(
            out,
            "| {verdict} | {} | {subject}{} | {} | {} |",
            f.count,
            f.site
                .as_ref()
                .map(|p| where_(p, locations))
                .unwrap_or_default(),
            f.blocking.name(),
            cell(f.hint.as_deref().unwrap_or(""))
        )?;
    }
    Ok(())
}

fn where_(place: &Place, locations: &Locations) -> String {
    let file = locations.relative(&place.file).unwrap_or(&place.file);
    let file = file.rsplit('/').next().unwrap_or(file);
    format!("`{}` {}:{}", cell(&place.function), cell(file), place.line)
}

/// Text inside a table cell: no pipes, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The message of a workflow command, escaped as the runner unescapes it.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value of a workflow command: `:` and `,` separate properties.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_escaped_as_the_runner_reads_them() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(property("main.go:12, line"), "main.go%3A12%2C line");
    }
}
