//! The report of a watch history as text, and the span of time it covers (which the HTML
//! report shows too).

use std::io::{self, Write};

use goleash_core::classify::Verdict;
use goleash_core::trend::Recovery;

use super::watch::{compression_note, duration_text};
use super::{plural, site_line, thousands, write_exits};
use crate::doc::report::{ReportDoc, TargetVerdict};
use crate::history::DumpRole;
use crate::render::style::Style;

/// `… UTC to … UTC (2 h 5 min)`: the time the history covers; `None` before any sample.
pub fn history_span(doc: &ReportDoc) -> Option<String> {
    let (from, to) = (doc.from?, doc.to?);
    Some(format!(
        "{} to {} ({})",
        utc(from),
        utc(to),
        duration_text(to - from)
    ))
}

/// `2026-11-27 14:03:05 UTC` from unix seconds.
pub fn utc(t: f64) -> String {
    let secs = t.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The report as text.
pub fn write(out: &mut dyn Write, doc: &ReportDoc, style: &Style) -> io::Result<()> {
    let span = history_span(doc).unwrap_or_else(|| "no samples".into());
    writeln!(
        out,
        "{}",
        style.bold(&format!("goleash report of {}: {span}", doc.db))
    )?;
    if doc.simulated {
        writeln!(
            out,
            "  {}",
            style.yellow("recorded by `goleash demo`: the targets were simulated")
        )?;
    }
    if let Some(note) = doc.settings.as_ref().and_then(compression_note) {
        writeln!(out, "  {}", style.yellow(&note))?;
    }
    for target in &doc.targets {
        writeln!(out)?;
        let trend = &target.trend;
        let trend = match (trend.slope_per_minute(), trend.p_value()) {
            (Some(slope), Some(p)) => format!("{} {slope:+.1}/min, p = {p:.1e}", trend.name()),
            (Some(slope), None) => {
                format!("{} ({slope:+.1}/min, within the noise)", trend.name())
            }
            _ => trend.name().to_string(),
        };
        let verdict = match target.verdict {
            TargetVerdict::Leak => style.red("LEAK"),
            TargetVerdict::Suspect | TargetVerdict::Rising => style.yellow(target.verdict.name()),
            other => other.name().to_string(),
        };
        writeln!(
            out,
            "{} {verdict}: {} ({trend}) · {} · {}",
            style.bold(&target.target),
            target.goroutines.map_or("? goroutines".into(), |n| plural(
                n,
                "goroutine",
                "goroutines"
            )),
            plural(target.samples.len() as u64, "sample", "samples"),
            match target.processes.len() {
                1 => "1 process".to_string(),
                n => format!("{n} processes"),
            }
        )?;
        for p in target.processes.iter().skip(1) {
            writeln!(out, "  restart at {}: {}", utc(p.seen), p.reason)?;
        }
        let stuck = target
            .phases
            .iter()
            .filter(|p| matches!(p.outcome, Recovery::Stuck { .. }))
            .count();
        let recovered = target
            .phases
            .iter()
            .filter(|p| matches!(p.outcome, Recovery::Recovered { .. }))
            .count();
        if !target.phases.is_empty() {
            // Every phase is counted somewhere: one whose cool-down the watch did not see
            // end is neither back down nor stuck.
            let mut others: Vec<(&str, usize)> = Vec::new();
            for phase in &target.phases {
                if matches!(
                    phase.outcome,
                    Recovery::Stuck { .. } | Recovery::Recovered { .. }
                ) {
                    continue;
                }
                match others.iter_mut().find(|(n, _)| *n == phase.outcome.name()) {
                    Some((_, count)) => *count += 1,
                    None => others.push((phase.outcome.name(), 1)),
                }
            }
            let others: String = others
                .iter()
                .map(|(name, count)| format!(", {count} {name}"))
                .collect();
            writeln!(
                out,
                "  {}: {recovered} came back down, {stuck} stayed up{others}",
                plural(target.phases.len() as u64, "load phase", "load phases")
            )?;
        }
        for group in target
            .groups
            .iter()
            .filter(|g| g.alerted || g.trend.rising())
        {
            let site = group
                .leak_site
                .as_ref()
                .map_or(group.blocking.name().to_string(), site_line);
            let label = match group.verdict {
                Verdict::Leak => style.red("LEAK     "),
                v => style.yellow(&format!("{:<9}", v.name())),
            };
            writeln!(
                out,
                "  {label}{} → {}  {}  {}",
                thousands(group.count_first),
                thousands(group.count_last),
                group.blocking.name(),
                style.cyan(&site)
            )?;
            writeln!(out, "           {}", style.dim(&group.why))?;
            write_exits(
                out,
                group.source_mismatch.as_deref(),
                group.exit_conditions.as_deref(),
                style,
                "           ",
            )?;
            if let Some(hint) = &group.hint {
                writeln!(out, "           {} {hint}", style.bold("fix:"))?;
            }
        }
        if let Some(diff) = &target.diff {
            writeln!(
                out,
                "  first → last snapshot kept: {} → {} goroutines{}",
                thousands(diff.goroutines_before),
                thousands(diff.goroutines_after),
                match diff.restarts_between {
                    0 => String::new(),
                    1 => " (a restart between)".to_string(),
                    n => format!(" ({n} restarts between)"),
                }
            )?;
            for row in diff.rows.iter().take(5) {
                writeln!(
                    out,
                    "    {:>+7}  {:<9} {}",
                    row.delta,
                    row.verdict.name(),
                    row.function
                )?;
            }
        }
        let evidence = target
            .dumps
            .iter()
            .filter(|d| d.role == DumpRole::Evidence)
            .count();
        if evidence > 0 {
            let dumps = if evidence == 1 { "dump" } else { "dumps" };
            writeln!(out, "  {evidence} {dumps} kept as evidence")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000.0), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }
}
