//! The text of `goleash check`: the groups that fail the gate in full, by snapshot, then
//! the verdict and what did not fail and why.

use std::io::{self, Write};

use goleash_core::classify::Verdict;

use super::{TextOptions, plural, write_groups};
use crate::doc::check::{CheckDoc, Settled};
use crate::gate::GateOutcome;
use crate::render::style::Style;

/// Writes the gate's report; with `options.all`, every group judged, not only the failing
/// ones.
pub fn write(
    out: &mut dyn Write,
    doc: &CheckDoc,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    if let Some(load) = &doc.load {
        writeln!(
            out,
            "{} {} goroutines idle → {} under load ({:.1}s) → {} after it, {}",
            style.bold("load:"),
            load.goroutines_idle,
            load.goroutines_peak,
            load.load_secs,
            load.goroutines_after,
            match load.settled {
                Settled::Back => format!("back within {:.1}s", load.settle_secs),
                Settled::Steady => format!("steady for {:.1}s", load.settle_secs),
                Settled::Timeout => format!("still falling after {:.1}s", load.settle_secs),
            }
        )?;
    }
    let (mut fails, mut suspects, mut suppressed, mut baselined) = (0u64, 0u64, Vec::new(), 0u64);
    let mut fine = 0u64;
    for (dump, snapshot) in doc.snapshots.iter().enumerate() {
        let mut failing = Vec::new();
        let mut passing: [Vec<_>; 3] = Default::default();
        // A group reported with another is part of that one's finding.
        for g in doc
            .groups
            .iter()
            .filter(|g| g.group.dump == dump && g.group.reported_with.is_none())
        {
            let bucket = match g.outcome {
                GateOutcome::Fail => None,
                GateOutcome::Pass => Some(0),
                GateOutcome::Suppressed => Some(1),
                GateOutcome::Baselined => Some(2),
            };
            if let Some(b) = bucket {
                passing[b].push((&g.group, g.growth));
            }
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
                GateOutcome::Pass => fine += 1,
            }
        }
        let shown_passing = options.all && passing.iter().any(|b| !b.is_empty());
        if !failing.is_empty() || shown_passing {
            writeln!(
                out,
                "{}: {} goroutines",
                style.bold(&snapshot.source),
                snapshot.goroutines
            )?;
            write_groups(out, &failing, style, options)?;
            writeln!(out)?;
        }
        if options.all {
            let titles = [
                "passing the gate:",
                "suppressed by the configuration:",
                "accepted by the baseline:",
            ];
            for (title, mut groups) in titles.into_iter().zip(passing) {
                if groups.is_empty() {
                    continue;
                }
                groups.sort_by_key(|(g, _)| (g.verdict, std::cmp::Reverse(g.count)));
                writeln!(out, "  {}", style.dim(title))?;
                write_groups(out, &groups, style, options)?;
                writeln!(out)?;
            }
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
            "  {} not failing the check (--strict fails on them; -v lists them)",
            plural(suspects, "suspect", "suspects")
        )?;
    }
    if fine > 0 && !options.all {
        writeln!(
            out,
            "  {} long-lived by design or lingering (-v lists them)",
            plural(fine, "stack", "stacks")
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
    super::write_source_note(out, doc.source_note.as_deref(), style)
}
