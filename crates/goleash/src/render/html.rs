//! The HTML report: one self-contained file, no script and nothing fetched, with inline
//! SVG charts. Everything that came from a target (function names, files, labels, reasons)
//! is escaped.

use std::fmt::Write as _;
use std::io::{self, Write};

use goleash_core::classify::Verdict;
use goleash_core::exits::Possibility;
use goleash_core::trend::Recovery;

use super::svg::{Band, Chart, Marker, Rule, escape};
use super::text::report::{history_span, utc};
use super::text::site_line;
use super::text::watch::{compression_note, duration_text};
use crate::doc::report::{GroupReport, HistoryAlert, Process, ReportDoc, TargetReport};
use crate::history::AlertVerdict;

pub const STYLE: &str = r#"
:root { --fg:#1d232b; --dim:#66707c; --line:#d9dee4; --leak:#c62828; --warn:#b26a00; --ok:#2e7d32; --accent:#1f5fa8; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; background: #f6f7f9; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; min-height: 100vh; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0; word-break: break-all; }
h3 { font-size: 15px; margin: 22px 0 8px; color: var(--dim); text-transform: uppercase; letter-spacing: .04em; }
.meta, .dim { color: var(--dim); }
.note { background: #fff6e0; border-left: 4px solid var(--warn); padding: 6px 10px; margin: 8px 0; }
.sim { background: #eef3fb; border-left: 4px solid var(--accent); padding: 6px 10px; margin: 8px 0; }
nav ul { list-style: none; padding: 0; margin: 12px 0 0; }
nav li { margin: 2px 0; }
section.target { border-top: 1px solid var(--line); margin-top: 28px; padding-top: 18px; }
.badge { display: inline-block; font-size: 12px; font-weight: 700; padding: 1px 8px; border-radius: 10px; color: #fff; background: var(--dim); vertical-align: middle; text-transform: uppercase; }
.badge.leak { background: var(--leak); } .badge.suspect, .badge.rising { background: var(--warn); } .badge.ok { background: var(--ok); }
.facts { margin: 6px 0 10px; }
svg.chart { display: block; }
figure { margin: 0; }
svg .series { fill: none; stroke: var(--accent); stroke-width: 1.6; stroke-linejoin: round; }
.group.leak svg .series { stroke: var(--leak); }
svg .grid { stroke: #eceff2; stroke-width: 1; }
svg .tick { font-size: 11px; fill: var(--dim); }
svg .phase-recovered { fill: rgba(46,125,50,.10); } svg .phase-stuck { fill: rgba(198,40,40,.13); } svg .phase-other { fill: rgba(102,112,124,.10); }
svg .restart { stroke: #7b1fa2; stroke-width: 2; stroke-dasharray: 5 4; }
svg .alert-leak { fill: var(--leak); stroke: #fff; stroke-width: 1.5; } svg .alert-other { fill: var(--warn); stroke: #fff; stroke-width: 1.5; }
.legend { font-size: 13px; color: var(--dim); margin: 4px 0 0; }
.legend span { margin-right: 14px; white-space: nowrap; }
.sw { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; border-radius: 2px; }
.group { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin: 10px 0; display: grid; grid-template-columns: 1fr 270px; gap: 4px 16px; }
.group.leak { border-left: 4px solid var(--leak); } .group.suspect { border-left: 4px solid var(--warn); }
.group .head { font-weight: 600; overflow-wrap: anywhere; }
.group .site { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
.group .chartcell { grid-row: 1 / span 4; grid-column: 2; }
.group .wide { grid-column: 1 / span 2; }
.hint { margin: 2px 0; } .hint b { color: var(--ok); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
pre { background: #f6f8fa; padding: 8px 10px; overflow-x: auto; margin: 6px 0 0; }
details summary { cursor: pointer; color: var(--accent); }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--dim); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.fn { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; word-break: break-all; }
.v-leak { color: var(--leak); font-weight: 700; } .v-suspect, .v-rising { color: var(--warn); font-weight: 600; }
footer { margin-top: 40px; font-size: 12px; color: var(--dim); }
"#;

fn thousands(n: u64) -> String {
    crate::render::text::thousands(n)
}

/// Writes the whole page.
pub fn write(out: &mut dyn Write, doc: &ReportDoc) -> io::Result<()> {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>goleash report: {}</title>", escape(&doc.db));
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");
    h.push_str("<h1>goleash report</h1>\n");
    let span = history_span(doc).unwrap_or_else(|| "no samples yet".into());
    let _ = writeln!(
        h,
        "<p class=\"meta\">History <code>{}</code> · {} · {} target{}</p>",
        escape(&doc.db),
        escape(&span),
        doc.targets.len(),
        if doc.targets.len() == 1 { "" } else { "s" }
    );
    if doc.simulated {
        h.push_str("<p class=\"sim\">Recorded by <code>goleash demo</code>: the targets were simulated inside goleash, from real goroutine stacks. No real service was watched.</p>\n");
    }
    if let Some(note) = doc.settings.as_ref().and_then(compression_note) {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(&note));
    }
    if doc.targets.len() > 1 {
        h.push_str("<nav><ul>\n");
        for (i, t) in doc.targets.iter().enumerate() {
            let _ = writeln!(
                h,
                "<li><span class=\"badge {v}\">{v}</span> <a href=\"#target-{i}\">{}</a></li>",
                escape(&t.target),
                v = t.verdict.name()
            );
        }
        h.push_str("</ul></nav>\n");
    }
    for (i, target) in doc.targets.iter().enumerate() {
        write_target(&mut h, i, target, doc);
    }
    h.push_str("<footer>Made by goleash from the watch history; self-contained, no scripts.</footer>\n</main>\n</body>\n</html>\n");
    out.write_all(h.as_bytes())
}

/// The samples of each process, as chart lines.
fn lines_by_process(samples: &[(f64, u64, i64)]) -> Vec<Vec<(f64, f64)>> {
    let mut lines: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = None;
    for &(t, v, p) in samples {
        if current != Some(p) {
            lines.push(Vec::new());
            current = Some(p);
        }
        if let Some(line) = lines.last_mut() {
            line.push((t, v as f64));
        }
    }
    lines
}

fn write_target(h: &mut String, index: usize, target: &TargetReport, doc: &ReportDoc) {
    let _ = writeln!(
        h,
        "<section class=\"target\" id=\"target-{index}\">\n<h2>{} <span class=\"badge {v}\">{v}</span></h2>",
        escape(&target.target),
        v = target.verdict.name()
    );
    let mut facts = vec![format!(
        "{} goroutines now",
        target.goroutines.map_or("?".into(), thousands)
    )];
    let trend = &target.trend;
    match (trend.slope_per_minute(), trend.p_value()) {
        (Some(s), Some(p)) => facts.push(format!("{} {s:+.1}/min (p = {p:.1e})", trend.name())),
        (Some(s), None) => facts.push(format!("{} ({s:+.1}/min, within the noise)", trend.name())),
        _ => facts.push(format!("trend: {}", trend.name())),
    }
    facts.push(format!(
        "{} samples",
        thousands(target.samples.len() as u64)
    ));
    let restarts = target.processes.len().saturating_sub(1);
    if restarts > 0 {
        facts.push(format!(
            "{restarts} restart{}",
            if restarts == 1 { "" } else { "s" }
        ));
    }
    let _ = writeln!(h, "<p class=\"facts\">{}</p>", escape(&facts.join(" · ")));

    let x_range = match (doc.from, doc.to) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    let lines = lines_by_process(&target.samples);
    // A phase still pending, or without a baseline, asserts nothing: it is not drawn.
    let bands = target
        .phases
        .iter()
        .filter(|p| !matches!(p.outcome, Recovery::Pending | Recovery::NoBaseline))
        .map(|p| Band {
            x0: p.start,
            x1: p.end,
            class: match p.outcome {
                Recovery::Recovered { .. } | Recovery::Unaffected => "phase-recovered",
                Recovery::Stuck { .. } => "phase-stuck",
                _ => "phase-other",
            },
            title: match p.outcome {
                Recovery::Recovered { after_secs } => format!(
                    "load phase: came back to its baseline {} after the load",
                    duration_text(after_secs)
                ),
                Recovery::Stuck { retained } => {
                    format!("load phase: {retained:.0} goroutines stayed after the cool-down")
                }
                outcome => format!("load phase: {}", outcome.name()),
            },
        })
        .collect();
    let rules: Vec<Rule> = target
        .processes
        .iter()
        .skip(1)
        .map(|p| Rule {
            x: p.seen,
            class: "restart",
            title: format!("restart: {}", p.reason),
        })
        .collect();
    // Leaks last, so that they are drawn on top.
    let leak = AlertVerdict::Group(Verdict::Leak);
    let mut alerts: Vec<&HistoryAlert> = target.alerts.iter().collect();
    alerts.sort_by_key(|a| a.verdict == leak);
    let markers = alerts
        .into_iter()
        .map(|a| Marker {
            x: a.t,
            // On the total's line, whatever the alert counted.
            y: total_at(&target.samples, a.t),
            class: if a.verdict == leak {
                "alert-leak"
            } else {
                "alert-other"
            },
            title: format!("{}: {}", a.verdict.name(), a.why),
        })
        .collect();
    let chart = Chart {
        width: 944.0,
        height: 260.0,
        axes: true,
        lines: lines.iter().map(|l| l.as_slice()).collect(),
        x_range,
        bands,
        rules,
        markers,
        label: format!("goroutines of {} over time", target.target),
    };
    let _ = writeln!(h, "<figure class=\"total\">{}", chart.render());
    h.push_str("<figcaption class=\"legend\"><span><i class=\"sw\" style=\"background:#1f5fa8\"></i>goroutines</span><span><i class=\"sw\" style=\"background:rgba(46,125,50,.3)\"></i>load that came back down</span><span><i class=\"sw\" style=\"background:rgba(198,40,40,.35)\"></i>load that stayed up</span><span><i class=\"sw\" style=\"background:#7b1fa2\"></i>restart</span><span><i class=\"sw\" style=\"background:#c62828;border-radius:6px\"></i>alert</span> (times UTC)</figcaption></figure>\n");

    let (growing, others): (Vec<&GroupReport>, Vec<&GroupReport>) =
        target.groups.iter().partition(|g| {
            g.alerted
                || g.trend.rising()
                || g.count_last.saturating_sub(g.count_first) as f64
                    >= doc.settings.as_ref().map_or(5.0, |s| s.min_rise)
        });
    if !growing.is_empty() {
        h.push_str("<h3>Stacks that grew</h3>\n");
        for g in growing {
            write_group(h, g, &target.processes, x_range);
        }
    }
    if !others.is_empty() {
        h.push_str("<h3>Other stacks</h3>\n<table><thead><tr><th>verdict</th><th class=\"num\">now</th><th class=\"num\">max</th><th>waits in</th><th>where</th></tr></thead><tbody>\n");
        for g in others {
            let _ = writeln!(
                h,
                "<tr><td class=\"v-{v}\">{v}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"fn\">{}</td></tr>",
                thousands(g.count_last),
                thousands(g.count_max),
                escape(g.blocking.name()),
                escape(&site_text(g)),
                v = escape(g.verdict.name())
            );
        }
        h.push_str("</tbody></table>\n");
    }
    if let Some(diff) = &target.diff {
        let _ = writeln!(
            h,
            "<h3>First and last snapshot kept</h3>\n<p>{} → {} goroutines, matched by stack{}.</p>",
            thousands(diff.goroutines_before),
            thousands(diff.goroutines_after),
            match diff.restarts_between {
                0 => String::new(),
                n => format!(
                    "; {n} restart{} between them, so goroutines did not carry over",
                    if n == 1 { "" } else { "s" }
                ),
            }
        );
        if diff.rows.is_empty() {
            h.push_str("<p class=\"dim\">No stack changed.</p>\n");
        } else {
            h.push_str("<table><thead><tr><th class=\"num\">change</th><th class=\"num\">before</th><th class=\"num\">after</th><th>verdict</th><th>where</th></tr></thead><tbody>\n");
            for row in &diff.rows {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"num\">{:+}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"v-{v}\" title=\"{}\">{v}</td><td class=\"fn\">{}</td></tr>",
                    row.delta,
                    thousands(row.count_before),
                    thousands(row.count_after),
                    escape(&row.why),
                    escape(&row.function),
                    v = row.verdict.name()
                );
            }
            h.push_str("</tbody></table>\n");
        }
    }
    if !target.alerts.is_empty() {
        h.push_str("<h3>Alerts</h3>\n<table><thead><tr><th>when</th><th>verdict</th><th class=\"num\">floor</th><th class=\"num\">rate</th><th>why</th></tr></thead><tbody>\n");
        for a in &target.alerts {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"v-{v}\">{v}</td><td class=\"num\">{} → {}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&utc(a.t)),
                a.count_before.map_or("?".into(), thousands),
                a.count_after.map_or("?".into(), thousands),
                a.slope_per_minute
                    .map_or(String::new(), |s| format!("{s:+.1}/min")),
                escape(&a.why),
                v = escape(a.verdict.name())
            );
        }
        h.push_str("</tbody></table>\n");
    }
    if !target.dumps.is_empty() {
        h.push_str("<h3>Profiles and dumps kept in the history</h3>\n<ul>\n");
        for d in &target.dumps {
            let _ = writeln!(
                h,
                "<li>{} · <code>{}?debug={}</code> · {} bytes · {}: {}</li>",
                escape(&utc(d.t)),
                escape(d.profile.name()),
                d.debug,
                thousands(d.bytes),
                escape(d.role.name()),
                escape(&d.reason)
            );
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}

/// The total at the last sample at or before `t`.
fn total_at(samples: &[(f64, u64, i64)], t: f64) -> f64 {
    let i = samples.partition_point(|s| s.0 <= t);
    samples.get(i.saturating_sub(1)).map_or(0.0, |s| s.1 as f64)
}

fn site_text(g: &GroupReport) -> String {
    match &g.leak_site {
        Some(site) => site_line(site),
        None => g.frames.first().map_or("?".into(), |f| f.function.clone()),
    }
}

fn write_group(
    h: &mut String,
    g: &GroupReport,
    processes: &[Process],
    x_range: Option<(f64, f64)>,
) {
    let class = match g.verdict {
        Verdict::Leak => "leak",
        Verdict::Suspect => "suspect",
        _ => "other",
    };
    // One line per process, as on the count chart.
    let starts: Vec<f64> = processes.iter().skip(1).map(|p| p.seen).collect();
    let mut lines: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    let mut next = 0;
    for &(t, c) in &g.series {
        if next < starts.len() && t >= starts[next] {
            while next < starts.len() && t >= starts[next] {
                next += 1;
            }
            lines.push(Vec::new());
        }
        if let Some(line) = lines.last_mut() {
            line.push((t, c as f64));
        }
    }
    let chart = Chart {
        width: 270.0,
        height: 64.0,
        axes: false,
        lines: lines.iter().map(Vec::as_slice).collect(),
        x_range,
        bands: Vec::new(),
        rules: processes
            .iter()
            .skip(1)
            .map(|p| Rule {
                x: p.seen,
                class: "restart",
                title: format!("restart: {}", p.reason),
            })
            .collect(),
        markers: Vec::new(),
        label: format!("goroutines in {}", site_text(g)),
    };
    let _ = writeln!(
        h,
        "<div class=\"group {class}\" data-signature=\"{}\">",
        escape(&g.signature.to_string())
    );
    let trend = match (g.trend.slope_per_minute(), g.trend.p_value()) {
        (Some(s), Some(p)) => format!(", {} {s:+.1}/min (p = {p:.1e})", g.trend.name()),
        _ => String::new(),
    };
    let _ = writeln!(
        h,
        "<div class=\"head\"><span class=\"v-{v}\">{}</span> {} → {} goroutines{} · waits in {}</div>",
        escape(&g.verdict.name().to_uppercase()),
        thousands(g.count_first),
        thousands(g.count_last),
        escape(&trend),
        escape(g.blocking.name()),
        v = escape(g.verdict.name())
    );
    let _ = writeln!(
        h,
        "<div class=\"chartcell\">{}<div class=\"dim\" style=\"font-size:12px\">max {}</div></div>",
        chart.render(),
        thousands(g.count_max)
    );
    let _ = writeln!(h, "<div class=\"site\">{}</div>", escape(&site_text(g)));
    if let Some(source) = g.leak_site.as_ref().and_then(|s| s.source.as_ref()) {
        let _ = writeln!(h, "<div><code>{}</code></div>", escape(source.trim()));
    }
    let _ = writeln!(h, "<div class=\"dim\">{}</div>", escape(&g.why));
    write_exits(h, g);
    if let Some(hint) = &g.hint {
        let _ = writeln!(
            h,
            "<div class=\"hint wide\"><b>fix:</b> {}</div>",
            escape(hint)
        );
    }
    let mut stack = String::new();
    for f in &g.frames {
        let _ = writeln!(stack, "{}\n\t{}:{}", f.function, f.file, f.line);
    }
    if let Some(c) = &g.created_by {
        let _ = writeln!(stack, "created by {}\n\t{}:{}", c.function, c.file, c.line);
    }
    let _ = writeln!(
        h,
        "<details class=\"wide\"><summary>full stack ({} frames) · signature {}</summary><pre>{}</pre></details>\n</div>",
        g.frames.len(),
        escape(&g.signature.to_string()),
        escape(&stack)
    );
}

/// The ways out of a stack's wait, one per line: ✓ can happen, ✗ cannot, ? unknown.
fn write_exits(h: &mut String, g: &GroupReport) {
    if let Some(mismatch) = &g.source_mismatch {
        let _ = writeln!(h, "<div class=\"dim wide\">{}</div>", escape(mismatch));
    }
    let Some(conditions) = g.exit_conditions.as_ref().filter(|c| !c.is_empty()) else {
        return;
    };
    // Styled in place: a page of a history without exit conditions stays byte for byte
    // what earlier releases wrote.
    let _ = writeln!(
        h,
        "<div class=\"exits wide\"><b>exits when</b><ul style=\"margin:2px 0;padding-left:18px;list-style:none\">"
    );
    for c in conditions {
        let (colour, mark) = match c.can_happen {
            Possibility::Yes => ("var(--ok)", "✓"),
            Possibility::No => ("var(--leak)", "✗"),
            Possibility::Unknown => ("var(--dim)", "?"),
        };
        let file = c.file.rsplit('/').next().unwrap_or(&c.file);
        let _ = writeln!(
            h,
            "<li><span style=\"color:{colour}\">{mark}</span> <code>{}</code> ({}:{}): {}</li>",
            escape(&c.code),
            escape(file),
            c.line,
            escape(&c.why)
        );
    }
    let _ = writeln!(h, "</ul></div>");
}
