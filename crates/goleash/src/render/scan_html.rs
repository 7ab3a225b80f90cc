//! `goleash scan --html FILE`: the scan as one self-contained page (no script, nothing
//! fetched): the series ranked, and for each suspect its count over the range and the
//! stacks that leak, with site, fix and exit conditions.

use std::fmt::Write as _;
use std::io::{self, Write};

use goleash_core::exits::Possibility;

use super::html::STYLE;
use super::svg::{Chart, escape};
use super::text::report::utc;
use crate::doc::scan::{Direction, Instance, Method, ScanDoc};

/// Series listed besides the rising ones.
const OTHERS_LISTED: usize = 50;

/// How a way out's chance reads in the page.
fn possibility_text(p: Possibility) -> &'static str {
    match p {
        Possibility::Yes => "can still happen",
        Possibility::No => "cannot happen",
        Possibility::Unknown => "unknown",
    }
}

/// Writes the page.
pub fn write(out: &mut dyn Write, doc: &ScanDoc) -> io::Result<()> {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>goleash scan: {}</title>", escape(&doc.selector));
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");
    h.push_str("<h1>goleash scan</h1>\n");
    let _ = writeln!(
        h,
        "<p class=\"meta\"><code>{}</code> from <code>{}</code> · {} to {} every {}s · {} series, {} judged, <span class=\"v-leak\">{} rising</span></p>",
        escape(&doc.selector),
        escape(&doc.prometheus),
        utc(doc.start),
        utc(doc.end),
        doc.step,
        doc.series,
        doc.judged,
        doc.rising
    );
    for p in &doc.problems {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(p));
    }
    h.push_str("<h3>Series, most evidence of a leak first</h3>\n<table>\n<tr><th class=\"num\">rank</th><th>direction</th><th class=\"num\">p</th><th class=\"num\">slope/h</th><th class=\"num\">last</th><th class=\"num\">restarts</th><th>series</th></tr>\n");
    let listed = doc
        .instances
        .iter()
        .filter(|i| i.direction == Direction::Rising)
        .chain(
            doc.instances
                .iter()
                .filter(|i| i.direction != Direction::Rising)
                .take(OTHERS_LISTED),
        );
    for i in listed {
        let (class, name) = direction(i.direction);
        let link = if i.stacks.is_some() {
            format!(
                "<a href=\"#rank-{}\">{}</a>",
                i.rank,
                escape(&i.series_name())
            )
        } else {
            escape(&i.series_name())
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{}</td><td class=\"{class}\">{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"fn\">{link}</td></tr>",
            i.rank,
            i.p_value.map_or("–".into(), |p| format!("{p:.1e}")),
            i.slope_per_hour.map_or("–".into(), |s| format!("{s:+.1}")),
            i.last.map_or("–".into(), |v| format!("{v}")),
            i.restarts,
        );
    }
    h.push_str("</table>\n");
    for i in doc.instances.iter().filter(|i| i.stacks.is_some()) {
        write_suspect(&mut h, i);
    }
    h.push_str("<footer>Made by goleash from Prometheus; self-contained, no scripts.</footer>\n</main>\n</body>\n</html>\n");
    out.write_all(h.as_bytes())
}

fn direction(d: Direction) -> (&'static str, &'static str) {
    match d {
        Direction::Rising => ("v-leak", "rising"),
        Direction::Flat => ("", "flat"),
        Direction::Falling => ("", "falling"),
        Direction::Insufficient => ("dim", "too short"),
        Direction::NotACount => ("v-suspect", "not a count"),
    }
}

fn write_suspect(h: &mut String, i: &Instance) {
    let stacks = i.stacks.as_ref().expect("only suspects with stacks");
    let _ = writeln!(
        h,
        "<section class=\"target\" id=\"rank-{}\"><h2><span class=\"badge rising\">#{}</span> {}</h2>",
        i.rank,
        i.rank,
        escape(&i.series_name())
    );
    let _ = writeln!(
        h,
        "<p class=\"facts\">rising {:+.1} goroutines/hour (p = {:.1e}), now {}, at most {}; {} restart{} in the range</p>",
        i.slope_per_hour.unwrap_or(0.0),
        i.p_value.unwrap_or(1.0),
        i.last.unwrap_or(0.0),
        i.max.unwrap_or(0.0),
        i.restarts,
        if i.restarts == 1 { "" } else { "s" }
    );
    if let Some(counts) = &i.counts {
        let points: Vec<(f64, f64)> = counts.iter().map(|p| (p[0], p[1])).collect();
        let chart = Chart {
            width: 900.0,
            height: 180.0,
            axes: true,
            lines: vec![&points],
            x_range: None,
            bands: Vec::new(),
            rules: Vec::new(),
            markers: Vec::new(),
            label: format!("goroutines of {} over the range", i.series_name()),
        };
        let _ = writeln!(h, "<figure>{}</figure>", chart.render());
    }
    if let Some(error) = &stacks.error {
        let _ = writeln!(h, "<p class=\"note\">No stacks: {}</p>", escape(error));
        h.push_str("</section>\n");
        return;
    }
    let how = match (stacks.method, &stacks.compared_with) {
        (Some(Method::Proven), _) => "proven leaked by the goroutineleak profile".to_string(),
        (Some(Method::Replica), Some(r)) => {
            format!(
                "grown compared with the healthy replica <code>{}</code>",
                escape(r)
            )
        }
        _ => "grown between two profiles of the instance".to_string(),
    };
    let _ = writeln!(
        h,
        "<h3>Stacks</h3><p class=\"dim\"><code>{}</code>: {how}</p>",
        escape(stacks.pprof.as_deref().unwrap_or(""))
    );
    if stacks.groups.is_empty() {
        h.push_str("<p>No stack leaks or grew.</p>\n");
    }
    for s in &stacks.groups {
        let g = &s.group;
        let verdict = g.verdict.name();
        let before = s
            .count_before
            .map_or(String::new(), |b| format!(" (was {b})"));
        let _ = writeln!(
            h,
            "<div class=\"group {verdict}\"><div class=\"head\"><span class=\"v-{verdict}\">{}</span> {} goroutines{before} · {}</div>",
            verdict.to_uppercase(),
            g.count,
            escape(g.blocking.name())
        );
        if let Some(site) = &g.leak_site {
            let _ = writeln!(
                h,
                "<div class=\"site wide\">{} <span class=\"dim\">{}:{}</span></div>",
                escape(&site.function),
                escape(&site.file),
                site.line
            );
            if let Some(source) = &site.source {
                let _ = writeln!(h, "<pre class=\"wide\">{}</pre>", escape(source));
            }
        }
        let _ = writeln!(h, "<div class=\"wide\">{}</div>", escape(&g.why));
        if let Some(exits) = &g.exit_conditions {
            h.push_str("<ul class=\"wide\">\n");
            for e in exits {
                let _ = writeln!(
                    h,
                    "<li><code>{}</code> ({}:{}): {}: {}</li>",
                    escape(&e.code),
                    escape(&e.file),
                    e.line,
                    possibility_text(e.can_happen),
                    escape(&e.why)
                );
            }
            h.push_str("</ul>\n");
        }
        if let Some(hint) = &g.hint {
            let _ = writeln!(
                h,
                "<p class=\"hint wide\"><b>Fix:</b> {}</p>",
                escape(hint.as_ref())
            );
        }
        h.push_str("</div>\n");
    }
    h.push_str("</section>\n");
}
