//! The Prometheus text exposition format (version 0.0.4) of a watch's verdicts.
//!
//! The metric names are a contract like the JSON: `docs/alerts.yml` and
//! `docs/grafana-dashboard.json` use them, and the tests check both against what this writes.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::doc::metrics::{MetricsDoc, TargetMetrics, TargetVerdict};

/// How a counter is read from a target's metrics.
type Counter = fn(&TargetMetrics) -> u64;

/// The content type `/metrics` answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes every metric of `doc`.
pub fn write(out: &mut dyn Write, doc: &MetricsDoc) -> io::Result<()> {
    header(
        out,
        "goleash_target_verdict",
        "gauge",
        "The watch's verdict on a target in its current process: 1 for the verdict it has (none, rising, suspect or leak), 0 for the others.",
    )?;
    for (target, m) in &doc.targets {
        let Some(verdict) = m.verdict else { continue };
        for v in TargetVerdict::ALL {
            writeln!(
                out,
                "goleash_target_verdict{{target=\"{}\",verdict=\"{}\"}} {}",
                escape(target),
                v.name(),
                u8::from(v == verdict)
            )?;
        }
    }
    header(
        out,
        "goleash_target_goroutines",
        "gauge",
        "The target's goroutine count in its last sample.",
    )?;
    for (target, m) in &doc.targets {
        if let Some(n) = m.goroutines {
            writeln!(
                out,
                "goleash_target_goroutines{{target=\"{}\"}} {n}",
                escape(target)
            )?;
        }
    }
    header(
        out,
        "goleash_leak_goroutines",
        "gauge",
        "Goroutines of the stacks with a verdict (suspect or leak) in the target's current process, by leak site.",
    )?;
    for (target, m) in &doc.targets {
        // Stacks that share a leak site and verdict are one series.
        let mut sites: BTreeMap<(&str, &str, u32, &str), u64> = BTreeMap::new();
        for s in m.stacks.values() {
            *sites
                .entry((&s.function, &s.file, s.line, s.verdict.name()))
                .or_default() += s.goroutines;
        }
        for ((function, file, line, verdict), n) in sites {
            writeln!(
                out,
                "goleash_leak_goroutines{{target=\"{}\",function=\"{}\",file=\"{}\",line=\"{line}\",verdict=\"{verdict}\"}} {n}",
                escape(target),
                escape(function),
                escape(file),
            )?;
        }
    }
    let counters: [(&str, &str, Counter); 3] = [
        (
            "goleash_samples_total",
            "Samples the target answered.",
            |m| m.samples,
        ),
        (
            "goleash_fetch_errors_total",
            "Requests to the target that failed.",
            |m| m.fetch_errors,
        ),
        (
            "goleash_restarts_total",
            "Restarts of the target seen.",
            |m| m.restarts,
        ),
    ];
    for (name, help, value) in counters {
        header(out, name, "counter", help)?;
        for (target, m) in &doc.targets {
            writeln!(out, "{name}{{target=\"{}\"}} {}", escape(target), value(m))?;
        }
    }
    Ok(())
}

fn header(out: &mut dyn Write, name: &str, kind: &str, help: &str) -> io::Result<()> {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}

/// A label value as the format escapes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("a\nb"), "a\\nb");
    }
}
