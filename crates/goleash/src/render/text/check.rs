//! The text of `goleash check`: the groups that fail the gate in full, by snapshot, then
//! the verdict and what did not fail and why.

use std::io::{self, Write};

use goleash_core::classify::Verdict;

use super::{TextOptions, plural, write_groups};
use crate::doc::check::CheckDoc;
use crate::gate::GateOutcome;
use crate::render::style::Style;

/// Writes the gate's report.
pub fn write(out: &mut dyn Write, doc: &CheckDoc, style: &Style) -> io::Result<()> {
    let options = TextOptions::default();
    let (mut fails, mut suspects, mut suppressed, mut baselined) = (0u64, 0u64, Vec::new(), 0u64);
    for (dump, snapshot) in doc.snapshots.iter().enumerate() {
        let mut failing = Vec::new();
        // A group reported with another is part of that one's finding.
        for g in doc
            .groups
            .iter()
            .filter(|g| g.group.dump == dump && g.group.reported_with.is_none())
        {
            match g.outcome {
                GateOutcome::Fail => {
                    fails += 1;
                    failing.push((&g.group, g.growth));
                }
                GateOutcome::Suppressed => {
                    suppressed.push(g.suppressed_because.clone().unwrap_or_default())
                }
                GateOutcome::Baselined => baselined += 1,
                GateOutcome::Pass if g.group.verdict == Verdict::Suspect => suspects += 1,
                GateOutcome::Pass => {}
            }
        }
        if !failing.is_empty() {
            writeln!(
                out,
                "{}: {} goroutines",
                style.bold(&snapshot.source),
                snapshot.goroutines
            )?;
            write_groups(out, &failing, style, &options)?;
            writeln!(out)?;
        }
    }
    if doc.passed {
        writeln!(out, "goleash check: passed, no leaks")?;
    } else {
        writeln!(
            out,
            "{}",
            style.red(&format!(
                "goleash check: FAILED: {}",
                plural(fails, "leaking stack", "leaking stacks")
            ))
        )?;
    }
    if suspects > 0 {
        writeln!(
            out,
            "  {} not failing the check (--strict fails on them; `goleash inspect` shows them)",
            plural(suspects, "suspect", "suspects")
        )?;
    }
    if !suppressed.is_empty() {
        let from = doc
            .config
            .as_ref()
            .map_or(String::new(), |p| format!(" by {p}"));
        writeln!(
            out,
            "  {} suppressed{from}:",
            plural(suppressed.len() as u64, "stack", "stacks")
        )?;
        for reason in suppressed {
            writeln!(out, "    {reason}")?;
        }
    }
    if baselined > 0 {
        writeln!(
            out,
            "  {} accepted by the baseline",
            plural(baselined, "stack", "stacks")
        )?;
    }
    Ok(())
}
